// Where the EventConsumer API lives on the API server: group, version, resource names and paths,
// and the path of a scale target's group/version, built only from a valid apiVersion.
import { API_VERSION_PATTERN } from './event-consumer.js';

export const GROUP = 'jetscale.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'EventConsumer';
export const PLURAL = 'eventconsumers';

/** Collection path for all namespaces (namespace undefined) or one namespace. */
export function eventConsumersPath(namespace?: string): string {
  return namespace === undefined
    ? `/apis/${GROUP}/${VERSION}/${PLURAL}`
    : `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}`;
}

export function eventConsumerPath(namespace: string, name: string): string {
  return `${eventConsumersPath(namespace)}/${encodeURIComponent(name)}`;
}

/**
 * The discovery path of a scale target's apiVersion (`/apis/<group>/<version>`, or `/api/v1` for
 * the core group), or undefined when it is not group/version: nothing else may reach a URL
 * (`apps/v1?x=1`, `../v1` and `a/b/c` would address other paths).
 */
export function groupVersionPath(apiVersion: string): string | undefined {
  if (apiVersion.length > 317 || !API_VERSION_PATTERN.test(apiVersion)) return undefined;
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}
