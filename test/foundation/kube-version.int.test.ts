// The control plane the integration tests run on is the Kubernetes release they claim: the one
// pinned in hack/versions.env, or under `make test-compat` the one it built
// (JETSCALE_EXPECT_KUBE_VERSION), so a compat run cannot pass on the default binaries by mistake.
import { pinnedVersions } from '../../hack/stack/tools.js';
import { closeKubeApi, kubeApi } from '../../operator/test/harness.js';

afterAll(() => closeKubeApi());

it('the API server reports the expected Kubernetes version', async () => {
  const expected = process.env.JETSCALE_EXPECT_KUBE_VERSION ?? pinnedVersions().KUBERNETES_VERSION;
  const version = await kubeApi().request<{ gitVersion: string }>('GET', '/version');
  expect(version.gitVersion).toBe(expected);
});
