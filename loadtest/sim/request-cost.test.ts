import { loadConfig } from '../../operator/src/config/config.js';
import {
  JETSCALE_STATUS_READINGS_SECONDS,
  JETSCALE_STATUS_REFRESH_SECONDS,
  JETSCALE_TARGET_REFRESH_SECONDS,
  JetscaleRequests,
  KedaRequests,
} from './request-cost.js';
import type { JetscalePoll } from './request-cost.js';

const poll = (at: number, over: Partial<JetscalePoll> = {}): JetscalePoll => ({
  now: at * 1000,
  backlog: 0,
  specReplicas: 2,
  statusReplicas: 2,
  readyReplicas: 2,
  desired: 2,
  state: '',
  ...over,
});

describe('request cost', () => {
  it('uses the operator’s own defaults', () => {
    const config = loadConfig({});
    expect(config.targetRefreshSeconds).toBe(JETSCALE_TARGET_REFRESH_SECONDS);
    expect(config.statusReadingsSeconds).toBe(JETSCALE_STATUS_READINGS_SECONDS);
    expect(config.statusRefreshSeconds).toBe(JETSCALE_STATUS_REFRESH_SECONDS);
  });

  it('jetscale: one consumer read per poll; an idle settled target is read every 15 s, status every 300 s', () => {
    const r = new JetscaleRequests(5);
    for (let t = 0; t < 300; t += 5) r.poll(poll(t));
    expect(r.counts.consumerReads).toBe(60);
    // GET /scale at 0, 15, 30, … (20) and the first status write.
    expect(r.counts.apiRequests).toBe(20 + 1);
  });

  it('jetscale: polled every second while busy, reads the target once per pollInterval and writes changing readings every 30 s', () => {
    const r = new JetscaleRequests(5);
    for (let t = 0; t < 60; t += 1) r.poll(poll(t, { backlog: 100 + t }));
    expect(r.counts.consumerReads).toBe(60);
    expect(r.counts.apiRequests).toBe(12 + 2); // GETs at 0, 5, … 55 s; status at 0 and 30 s
  });

  it('jetscale: a change is a PATCH, an Event and a status write, and the target is read again', () => {
    const r = new JetscaleRequests(5);
    r.poll(poll(0));
    const before = r.counts.apiRequests;
    r.poll(poll(1, { desired: 4 }));
    expect(r.counts.apiRequests - before).toBe(3); // no GET (cached, settled), PATCH, Event, status
    r.poll(poll(2, { specReplicas: 4, desired: 4 }));
    expect(r.counts.apiRequests - before).toBe(3 + 1); // GET again; the status shows nothing new
    r.poll(poll(3, { specReplicas: 4, statusReplicas: 4, desired: 4 }));
    expect(r.counts.apiRequests - before).toBe(3 + 1 + 2); // GET (not settled), status: 4 pods now
  });

  it('KEDA: a /jsz read per poll and per HPA sync; the HPA reads /scale and the metric each sync', () => {
    const r = new KedaRequests();
    r.kedaPoll(true, false);
    expect(r.counts).toEqual({ consumerReads: 1, apiRequests: 1 });
    r.hpaSync(50, 2, 2, false, true);
    expect(r.counts).toEqual({ consumerReads: 2, apiRequests: 1 + 3 });
    r.hpaSync(50, 2, 2, false, true); // same status: no write
    expect(r.counts).toEqual({ consumerReads: 3, apiRequests: 1 + 3 + 2 });
    r.hpaSync(80, 2, 2, true, true); // rescale: Update, Event, status
    expect(r.counts).toEqual({ consumerReads: 4, apiRequests: 1 + 3 + 2 + 5 });
    r.hpaSync(0, 0, 0, false, false); // at zero the HPA stops before the metric
    expect(r.counts).toEqual({ consumerReads: 4, apiRequests: 1 + 3 + 2 + 5 + 1 });
  });
});
