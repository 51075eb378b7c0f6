// Where the EventConsumer API lives on the API server: group, version, resource names and paths.

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
