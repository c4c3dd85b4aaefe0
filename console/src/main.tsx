import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { bootSettled } from "./app/bootPrefetch";
import { perf } from "./app/perf";
import "./styles.css";

perf(); // the timing hook exists from the start, for benchmarks and tests

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root");
const container = root;

// On a deep link to a recording, boot.ts is already fetching it: wait for it (briefly)
// so the first render shows the charts rather than a loading state.
void bootSettled(1500).then(() => {
  createRoot(container).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
});
