"use strict";
// The campaign page (issue 18): while its proposal job is queued or running, follow the job
// and show the page again (without the "being proposed" message) when it ends, so the new
// planned tests, or the job's failure, appear without the user reloading.
(function () {
  const note = document.getElementById("propose-running");
  if (!note || !note.dataset.job) return;
  casip.pollJob(note.dataset.job, function (job, res) {
    if (!job) { note.textContent = casip.problemText(res); return; }
    note.textContent = "Proposal job " + job.id + ": " + job.status + ".";
    if (["done", "failed", "cancelled"].indexOf(job.status) >= 0) window.location.replace(window.location.pathname);
  }, 1000);
})();
