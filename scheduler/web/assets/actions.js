// The DAG pages' actions (trigger, pause, unpause). The API takes only
// same-origin POSTs with a JSON body, which is what fetch sends here; the
// page reloads to show the result (or opens a triggered run).
"use strict";
document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-action]");
  if (!button) return;
  ev.preventDefault();
  const dag = button.dataset.dag;
  const action = button.dataset.action;
  const status = document.getElementById("action-status");
  button.disabled = true;
  try {
    const resp = await fetch(`/api/dags/${encodeURIComponent(dag)}/${encodeURIComponent(action)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: "{}",
      credentials: "same-origin",
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.error || `${resp.status} ${resp.statusText}`);
    if (action === "trigger" && body.run_id) {
      location.assign(`/dags/${encodeURIComponent(dag)}/runs/${encodeURIComponent(body.run_id)}`);
      return;
    }
    location.reload();
  } catch (err) {
    if (status) {
      status.textContent = `${action} ${dag}: ${err.message}`;
      status.hidden = false;
    }
    button.disabled = false;
  }
});
