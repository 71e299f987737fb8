// Display names for engine registry names; the engine names stay the values in URLs and the API.

const NAMES = {
  // activations
  linear: "Linear", sigmoid: "Sigmoid", tanh: "Tanh", relu: "ReLU", leaky_relu: "Leaky ReLU", elu: "ELU",
  gelu: "GELU (tanh approx.)", softplus: "Softplus", swish: "Swish / SiLU", sine: "Sine", softmax: "Softmax",
  // initialisers
  zeros: "Zeros", constant: "Constant", uniform: "Uniform", normal: "Normal", xavier_uniform: "Xavier uniform",
  xavier_normal: "Xavier normal", he_uniform: "He uniform", he_normal: "He normal", lecun_normal: "LeCun normal",
  orthogonal: "Orthogonal",
  // losses
  mse: "MSE", binary_cross_entropy: "Binary cross-entropy", softmax_cross_entropy: "Softmax cross-entropy",
  // optimisers
  sgd: "SGD", momentum: "Momentum", nesterov: "Nesterov momentum", rmsprop: "RMSProp", adagrad: "AdaGrad",
  adam: "Adam", adamw: "AdamW",
};

// Dataset names too long for a thumbnail's caption: a soft hyphen lets them break.
const DATASET_CAPTIONS = { checkerboard: "checker\u00adboard", multigauss: "multi\u00adgauss" };

/** A dataset's caption under its thumbnail (its name, breakable where it is long). */
export function datasetCaption(name) {
  return DATASET_CAPTIONS[name] ?? name;
}

/** The learner-facing name for a registry entry; unknown names pass through unchanged. */
export function displayName(name) {
  return Object.hasOwn(NAMES, name) ? NAMES[name] : name;
}
