/**
 * Chart creation in one batch: every chart mounted in the same React commit is queued,
 * then all container widths are read (one layout) before any chart is created (DOM
 * writes). Creating charts one by one would force a fresh layout of the page per chart.
 */

export interface CreateJob {
  cancelled: boolean;
}

interface Queued extends CreateJob {
  host: HTMLElement;
  create: (width: number) => void;
}

let queue: Queued[] = [];

function flush(): void {
  const jobs = queue;
  queue = [];
  const widths = jobs.map((j) => (j.cancelled ? 0 : j.host.clientWidth));
  jobs.forEach((job, i) => {
    if (!job.cancelled) job.create(widths[i]);
  });
}

export function scheduleCreate(host: HTMLElement, create: (width: number) => void): CreateJob {
  const job: Queued = { host, create, cancelled: false };
  queue.push(job);
  if (queue.length === 1) queueMicrotask(flush);
  return job;
}
