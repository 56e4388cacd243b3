/* Upload progress on the application's photo page (progressive enhancement). The form is sent as
   before, but with XMLHttpRequest so the page can show how much has gone: a <progress> bar and a
   polite live text ("Uploading: 45%"). Without JavaScript the plain form post works the same. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload-progress]");
  var box = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  if (!form || !box || !status || !window.FormData || !window.XMLHttpRequest) {
    return;
  }
  var bar = box.querySelector("progress");
  var button = form.querySelector("button");

  function say(percent) {
    bar.value = percent;
    status.textContent = status.getAttribute("data-uploading").replace("{percent}", percent + "%");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "text/html");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        say(Math.round((100 * e.loaded) / e.total));
      }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400 && xhr.responseURL && xhr.responseURL !== form.action) {
        window.location.assign(xhr.responseURL); // saved: the server sent us back to the task list
        return;
      }
      document.open(); // the page again, with each problem beside its field
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener("error", function () {
      status.textContent = status.getAttribute("data-failed");
      button.disabled = false;
    });
    box.hidden = false;
    button.disabled = true;
    say(0);
    xhr.send(new FormData(form));
  });
})();
