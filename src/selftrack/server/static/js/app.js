document.getElementById("page").textContent = "loading";
