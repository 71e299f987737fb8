// Entry point: checks the server is up and shows its status.
const status = document.getElementById("status");
const response = await fetch("/healthz");
const health = await response.json();
status.textContent = `Server ${health.status} · version ${health.version}`;
