// Text from users and servers (names, error messages) that the operator writes into Kubernetes
// objects — condition messages, Event messages — is cut to a length the API server accepts. One
// cut for all of them: by code point, as the API server counts characters, never splitting a
// surrogate pair (half an emoji would reach the API server as U+FFFD), saying how much was left out.

/** `text` cut to at most `max` characters (code points), saying how much was left out. */
export function capText(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = [...text];
  if (chars.length <= max) return text;
  const marker = ` … (${chars.length - max} more characters)`;
  return chars.slice(0, Math.max(0, max - marker.length)).join('') + marker;
}
