// Drives paced-publisher-process.mjs (open-model JetStream publishers in a child process; see there).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { repoRoot } from '../../hack/stack/tools.js';

export interface PacedPublisher {
  /** Starts publishing `perSecond` to `subject`, under `id`, until stop(id). */
  start(id: string, subject: string, perSecond: number): Promise<void>;
  /** Stops `id` once every ack still out has come or failed: what it published, and the acks missed. */
  stop(id: string): Promise<{ published: number; failures: number }>;
  /** Ends the process (publishing still running is dropped). */
  close(): Promise<void>;
}

interface Answer {
  ready?: boolean;
  id?: string;
  started?: boolean;
  published?: number;
  failures?: number;
  error?: string;
}

export async function startPacedPublisher(url: string): Promise<PacedPublisher> {
  const command = diesWithThisProcess(process.execPath, [
    path.join(repoRoot, 'operator', 'test', 'paced-publisher-process.mjs'),
    JSON.stringify({ url }),
  ]);
  const child = spawn(command.command, command.args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let exited: string | undefined;
  const waiting = new Map<string, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();
  const failAll = (why: string): void => {
    exited = why;
    for (const w of waiting.values()) w.reject(new Error(`paced-publisher-process.mjs: ${why}`));
    waiting.clear();
  };
  const ready = new Promise<void>((resolve, reject) => {
    waiting.set('', { resolve: () => resolve(), reject });
  });
  child.once('exit', (code, signal) => failAll(`exited (${code ?? signal})`));
  if (child.stdout === null || child.stdin === null)
    throw new Error('paced-publisher-process.mjs has no stdio');
  createInterface({ input: child.stdout }).on('line', (line) => {
    let answer: Answer;
    try {
      answer = JSON.parse(line) as Answer;
    } catch {
      return failAll(`answered something not JSON: ${line.slice(0, 200)}`);
    }
    if (answer.error !== undefined) return failAll(`refused a command: ${answer.error}`);
    const key =
      answer.ready === true ? '' : `${answer.id ?? ''}:${answer.started === true ? 'start' : 'stop'}`;
    const w = waiting.get(key);
    if (w === undefined) return failAll(`answered what was not asked: ${line.slice(0, 200)}`);
    waiting.delete(key);
    w.resolve(answer);
  });
  const stdin = child.stdin;
  const ask = (key: string, cmd: object): Promise<Answer> => {
    if (exited !== undefined) return Promise.reject(new Error(`paced-publisher-process.mjs ${exited}`));
    const answer = new Promise<Answer>((resolve, reject) => waiting.set(key, { resolve, reject }));
    stdin.write(`${JSON.stringify(cmd)}\n`);
    return answer;
  };
  await ready;
  return {
    start: async (id, subject, perSecond) => {
      await ask(`${id}:start`, { op: 'start', id, subject, perSecond });
    },
    stop: async (id) => {
      const a = await ask(`${id}:stop`, { op: 'stop', id });
      if (typeof a.published !== 'number' || typeof a.failures !== 'number')
        throw new Error(`paced-publisher-process.mjs: stop of ${id} answered without counts`);
      return { published: a.published, failures: a.failures };
    },
    close: async () => {
      if (exited !== undefined) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
