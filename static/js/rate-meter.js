// The training speed the page actually reaches while playing, measured from the frames it
// receives: their step numbers and arrival times over the last second or so.

export class RateMeter {
  /** `span`: how far back (ms) the rates look. */
  constructor(span = 1000) {
    this.span = span;
    this.samples = []; // [time in ms, step]
  }

  reset() {
    this.samples = [];
  }

  /** A frame that arrived at `time` (ms, performance.now()) with the state at `step`. */
  add(time, step) {
    const samples = this.samples;
    samples.push([time, step]);
    while (samples.length > 2 && time - samples[1][0] >= this.span) samples.shift();
  }

  /** {steps, frames}: training steps and frames per second between the oldest frame kept
   * and the newest, or null before two frames. */
  rates() {
    const samples = this.samples;
    if (samples.length < 2) return null;
    const [t0, s0] = samples[0];
    const [t1, s1] = samples[samples.length - 1];
    const seconds = (t1 - t0) / 1000;
    if (!(seconds > 0)) return null;
    return { steps: (s1 - s0) / seconds, frames: (samples.length - 1) / seconds };
  }
}
