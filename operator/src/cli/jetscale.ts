#!/usr/bin/env node
// The `jetscale` command line (also `kubectl jetscale` when linked as kubectl-jetscale on PATH).
// Subcommands: migrate (KEDA ScaledObjects -> EventConsumers).
import {
  listScaledObjectsFromCluster,
  MIGRATE_HELP,
  readKedaObjectFromCluster,
  runMigrate,
} from '../migrate/migrate-command.js';

const HELP = `Usage: jetscale <command> [flags]

Commands:
  migrate   convert KEDA ScaledObjects (nats-jetstream triggers) into EventConsumers

Run 'jetscale migrate --help' for its flags.

${MIGRATE_HELP.split('\n')[0]}`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'migrate':
      return runMigrate(rest, {
        stdin: readStdin,
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
        listScaledObjects: listScaledObjectsFromCluster,
        readObject: readKedaObjectFromCluster,
      });
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${HELP}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`jetscale: unknown command "${command}"\n\n${HELP}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`jetscale: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
