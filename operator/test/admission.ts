// Admission in front of the test stack's real API server, for tests of what jetscale does when a
// write is refused or changed by someone else's admission: ValidatingAdmissionPolicies with their
// Deny binding, and real https admission webhooks served from the test process (test-pki.ts issues
// their certificate). Everything is limited to UPDATEs of one resource in one namespace.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { kubeApi } from './harness.js';
import { makeTestPki } from './test-pki.js';

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';

/** UPDATEs of `resource` (a subresource as `deployments/scale`) of `apiGroup`, in `namespace`. */
export interface AdmittedUpdates {
  apiGroup: string;
  resource: string;
  namespace: string;
}

function rules(target: AdmittedUpdates): unknown[] {
  return [
    {
      apiGroups: [target.apiGroup],
      apiVersions: ['*'],
      operations: ['UPDATE'],
      resources: [target.resource],
    },
  ];
}

function inNamespace(namespace: string): unknown {
  return { matchLabels: { 'kubernetes.io/metadata.name': namespace } };
}

/** A ValidatingAdmissionPolicy `name` and its Deny binding: each validation's CEL expression must hold. */
export async function denyUnless(
  name: string,
  target: AdmittedUpdates,
  validations: { expression: string; message: string; reason?: string }[],
): Promise<void> {
  await kubeApi().request('POST', `${ADMISSION}/validatingadmissionpolicies`, {
    body: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: { failurePolicy: 'Fail', matchConstraints: { resourceRules: rules(target) }, validations },
    },
  });
  await kubeApi().request('POST', `${ADMISSION}/validatingadmissionpolicybindings`, {
    body: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: {
        policyName: name,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: inNamespace(target.namespace) },
      },
    },
  });
}

/** Removes what denyUnless(`name`) made; what is not there is not an error. */
export async function removePolicy(name: string): Promise<void> {
  await kubeApi()
    .request('DELETE', `${ADMISSION}/validatingadmissionpolicybindings/${name}`)
    .catch(() => undefined);
  await kubeApi()
    .request('DELETE', `${ADMISSION}/validatingadmissionpolicies/${name}`)
    .catch(() => undefined);
}

/** What a webhook is asked: the AdmissionReview's request, as far as these tests read it. */
export interface AdmissionRequest {
  uid: string;
  name?: string;
  object?: { spec?: { replicas?: number } };
  /** The request's options (PatchOptions for a PATCH): who asked, by field manager. */
  options?: { fieldManager?: string };
  dryRun?: boolean;
}

/** A webhook's answer without the uid: `allowed`, and a `status` or a JSON `patch` (base64). */
export type AdmissionAnswer = { allowed: boolean } & Record<string, unknown>;

export interface Webhook {
  /** Deletes the webhook configuration, stops the server and removes its certificates. */
  remove(): Promise<void>;
}

/**
 * Serves `answer` over https on 127.0.0.1 and registers it as webhook `name` (a Mutating- or
 * ValidatingWebhookConfiguration, failurePolicy Fail) for `target`. Call remove() when done.
 * An answer may take its time (a Promise): the API server waits for it up to `timeoutSeconds`
 * (10 by default, at most 30).
 */
export async function startWebhook(
  name: string,
  type: 'Mutating' | 'Validating',
  target: AdmittedUpdates,
  answer: (request: AdmissionRequest) => AdmissionAnswer | Promise<AdmissionAnswer>,
  options: { timeoutSeconds?: number } = {},
): Promise<Webhook> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-webhook-'));
  const pki = makeTestPki(dir);
  const server = https.createServer(
    { cert: readFileSync(pki.files.serverCert), key: readFileSync(pki.files.serverKey) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: AdmissionRequest };
        void Promise.resolve(answer(review.request)).then((answered) => {
          if (res.destroyed) return; // the API server gave up on us
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: { uid: review.request.uid, ...answered },
            }),
          );
        });
      });
    },
  );
  const configurations = `${ADMISSION}/${type.toLowerCase()}webhookconfigurations`;
  const remove = async (): Promise<void> => {
    await kubeApi()
      .request('DELETE', `${configurations}/${name}`)
      .catch(() => undefined);
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await kubeApi().request('POST', configurations, {
      body: {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: `${type}WebhookConfiguration`,
        metadata: { name },
        webhooks: [
          {
            name: `${name}.jetscale.test`,
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: options.timeoutSeconds ?? 10,
            clientConfig: {
              url: `https://127.0.0.1:${port}/${type === 'Mutating' ? 'mutate' : 'validate'}`,
              caBundle: Buffer.from(pki.ca).toString('base64'),
            },
            rules: rules(target),
            namespaceSelector: inNamespace(target.namespace),
          },
        ],
      },
    });
  } catch (err) {
    await remove();
    throw err;
  }
  return { remove };
}
