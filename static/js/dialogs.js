// Help overlay and share dialog (copy link; classroom option choosing controls to hide).

import { html } from "./dom.js";

// Groups a teacher may hide, with the names used in the link's `hide=` list.
const HIDEABLE = [
  ["data", "all data settings"],
  ["dataset", "dataset"],
  ["noise", "noise"],
  ["split", "train/test split"],
  ["features", "input features"],
  ["network", "all network settings"],
  ["layers", "layers and neurons"],
  ["activation", "activation"],
  ["init", "initialiser"],
  ["seeds", "seeds"],
  ["training", "all training settings"],
  ["loss", "loss"],
  ["optimizer", "optimiser"],
  ["lr", "learning rate"],
  ["batch", "batch size"],
  ["regularisation", "regularisation"],
  ["clip", "gradient clipping"],
  ["play", "play button"],
  ["lessons", "lessons"],
  ["compare", "compare with…"],
];

export class Dialogs {
  constructor({ getHidden, onHide, isUploaded }) {
    this.isUploaded = isUploaded;
    this.help = document.getElementById("help");
    this.share = document.getElementById("share");
    this.getHidden = getHidden;
    this.onHide = onHide;
    this.link = this.share.querySelector("input[name=link]");
    document.querySelector("[data-action=help]").addEventListener("click", () => this.openHelp());
    document.querySelector("[data-action=share]").addEventListener("click", () => this.openShare());
    this.share.querySelector("[data-action=copy-link]").addEventListener("click", () => this.copy());
    const options = this.share.querySelector(".hide-options");
    this.boxes = HIDEABLE.map(([name, label]) => {
      const box = html("input", { type: "checkbox", value: name });
      box.addEventListener("change", () => {
        this.onHide(this.boxes.filter((b) => b.checked).map((b) => b.value));
        this.link.value = location.href;
      });
      options.append(html("label", { class: "chip" }, box, html("span", { text: label })));
      return box;
    });
  }

  openHelp() {
    if (!this.help.open) this.help.showModal();
  }

  openShare() {
    const hidden = new Set(this.getHidden());
    for (const box of this.boxes) box.checked = hidden.has(box.value);
    this.link.value = location.href;
    this.share.querySelector(".share-note").hidden = !this.isUploaded();
    if (!this.share.open) this.share.showModal();
    this.link.select();
  }

  async copy() {
    this.link.select();
    const button = this.share.querySelector("[data-action=copy-link]");
    try {
      await navigator.clipboard.writeText(this.link.value);
      button.textContent = "Copied ✓";
    } catch {
      // Clipboard access can be refused (permissions, insecure context): the text is selected.
      button.textContent = "Press Ctrl+C";
    }
  }
}
