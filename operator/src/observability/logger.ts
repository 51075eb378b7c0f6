// Structured JSON logs, one object per line on stdout. Child loggers carry fields such as
// namespace/name so every line about an EventConsumer says which one. Callers pass only values
// that are safe to print: credentials never reach a logger (see backlog/nats-credentials.ts).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVEL_ORDER;
}

/** Errors become {message, kind?} so a log line never carries a stack of secrets-bearing objects. */
function serialize(value: unknown): unknown {
  if (value instanceof Error) {
    const kind = (value as Error & { kind?: unknown }).kind;
    return kind === undefined ? { message: value.message } : { message: value.message, kind };
  }
  return value;
}

export function createLogger(options: {
  level: LogLevel;
  write?: (line: string) => void;
  base?: LogFields;
}): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const threshold = LEVEL_ORDER[options.level];
  const make = (base: LogFields): Logger => {
    const log = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (LEVEL_ORDER[level] < threshold) return;
      const entry: LogFields = { time: new Date().toISOString(), level, msg, ...base };
      if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = serialize(v);
      write(JSON.stringify(entry));
    };
    return {
      debug: (msg, fields) => log('debug', msg, fields),
      info: (msg, fields) => log('info', msg, fields),
      warn: (msg, fields) => log('warn', msg, fields),
      error: (msg, fields) => log('error', msg, fields),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make(options.base ?? {});
}

/** A logger that drops everything, for tests and benchmarks. */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => undefined });
