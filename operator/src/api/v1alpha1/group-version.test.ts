// Specifies that only a group/version reaches a URL as a scale target's apiVersion.
import { groupVersionPath } from './group-version.js';

describe('groupVersionPath', () => {
  it.each([
    ['apps/v1', '/apis/apps/v1'],
    ['v1', '/api/v1'],
    ['argoproj.io/v1alpha1', '/apis/argoproj.io/v1alpha1'],
  ])('maps %s to %s', (apiVersion, path) => {
    expect(groupVersionPath(apiVersion)).toBe(path);
  });

  it.each([
    'apps/v1?x=1',
    '../v1',
    'apps/../../v1',
    'apps/v1/x',
    'apps/v1#x',
    '/v1',
    'apps/',
    'a%2Fb/v1',
    'apps/v1 ',
    `${'a'.repeat(400)}/v1`,
  ])('refuses %j', (apiVersion) => {
    expect(groupVersionPath(apiVersion)).toBeUndefined();
  });
});
