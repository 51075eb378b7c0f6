// Until a CustomResourceDefinition is Established (its API is served). Not `kubectl wait
// --for=condition=Established`: on a CRD created a moment ago, before the API server has written
// any condition, it fails at once ("status.conditions accessor error: <nil> is of the type <nil>")
// instead of waiting. Whether it meets that depends on which is faster, kubectl or the API
// server's CRD controller, so a fresh CRD made it fail on a fast machine and pass on a slow one.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from './ports.js';
import { toolPath } from './tools.js';

export async function crdEstablished(kubeconfig: string, name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `CustomResourceDefinition ${name} to be Established`,
    async () => {
      const { stdout } = await promisify(execFile)(toolPath('kubectl'), [
        '--kubeconfig',
        kubeconfig,
        'get',
        'customresourcedefinition',
        name,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
      ]);
      return stdout.trim() === 'True' ? true : undefined;
    },
    timeoutMs,
    100,
  );
}
