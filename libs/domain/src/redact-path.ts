/**
 * A mapping path as redaction shows it: its last component (what pmap prints without -p), with a
 * trailing " (deleted)" kept; names that are not paths ([heap], [anon:x], "") unchanged. The
 * gateway redacts answers with it, and the agent's maps search matches redacted names with it, so
 * a search on redacted names says nothing about the full paths.
 */
export function redactPath(name: string): string {
  if (!name.startsWith('/')) return name;
  const deleted = name.endsWith(' (deleted)') ? ' (deleted)' : '';
  const path = deleted ? name.slice(0, -deleted.length) : name;
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base === '' ? name : base + deleted;
}
