// The home page's script, a classic script that uses the helper's classic
// build (the global oidcsession): sign-out, and a note when another tab
// signs out.
(function () {
  "use strict";
  const o = globalThis.oidcsession;
  const button = document.getElementById("signout");
  const note = document.getElementById("note");

  function say(text) {
    note.textContent = text;
    note.hidden = false;
  }

  if (button) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const out = await o.signOut(); // navigates to the provider's sign-out on success
        if (!out.ok) say("Sign-out was refused (" + out.status + (out.error ? " " + out.error : "") + ").");
      } catch {
        say("Sign-out failed: the server could not be reached.");
      } finally {
        button.disabled = false;
      }
    });
  }

  o.onSessionChange((e) => {
    if (e.type !== "ended" || e.source !== "other-tab") return;
    if (button) button.hidden = true;
    say(e.reason === "signed_out" ? "You signed out in another tab." : "Your session ended in another tab.");
  });
})();
