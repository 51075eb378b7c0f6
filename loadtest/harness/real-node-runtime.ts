// Whether this host can run the demo's pods as real containers on a real node, and if not, why
// (the demo then runs them as local processes and says so).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { assertRealNodePrerequisites } from '../../hack/stack/real-node.js';

const run = promisify(execFile);

/** undefined when a real node can run here; otherwise the reason, with what fixes it. */
export async function realNodeUnavailable(): Promise<string | undefined> {
  try {
    assertRealNodePrerequisites();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  try {
    await run('docker', ['info'], { timeout: 20_000 });
  } catch {
    return 'the Docker daemon is not reachable (start dockerd): the images are built with Docker';
  }
  return undefined;
}
