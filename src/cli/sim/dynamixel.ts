// vla-sim dynamixel: the ALOHA follower arms as Dynamixel servos on pseudo-terminals (a dry run of the
// serial path without hardware), backed by the MuJoCo sim, with a ZeroMQ sim link for cameras, episode
// reset and success. Runs until interrupted.
import type { Command } from 'commander';
import { DynamixelEmulator } from '../../../sim/dynamixel/emulator.js';
import { holdCpuWakeLatency } from '../../runtime/cpu-wake-latency.js';
import { createLogger } from '../../telemetry/log.js';
import { cpuWakeLatencyArg, intArg, numArg, SIMULATOR_CPU_WAKE_HELP, UsageError } from '../common.js';
import { physicsHzArg, robotArg, TASK_HELP, taskArg } from './args.js';

export function dynamixelCommand(program: Command): void {
  program
    .command('dynamixel')
    .description('emulate the ALOHA follower arms as Dynamixel X-series servos on pseudo-terminals')
    .option('--robot <name>', 'aloha (the only Dynamixel robot)')
    .option('--task <name>', TASK_HELP)
    .option('--seed <n>', 'seed of the first episode', '0')
    .option('--physics-hz <hz>', 'physics rate (multiple of 50)', '500')
    .option('--crc-error-rate <p>', 'probability that a reply has a corrupted CRC', '0')
    .option('--drop-rate <p>', 'probability that a reply is not sent', '0')
    .option('--reply-delay-ms <ms>', 'delay before each reply', '0')
    .option('--sim-link-port <port>', 'TCP port of the sim link on 127.0.0.1 (0: any free port)', '0')
    .option('--no-sim-link', 'no sim link (serial only)')
    .option('--dir <dir>', 'directory for stable symlinks to the ports (<dir>/left, <dir>/right)')
    .option('--cpu-wake-latency-us <us|off>', SIMULATOR_CPU_WAKE_HELP, '0')
    .option('--leaders', 'also the two leader arms (ports: leader_ports), posed over the sim link')
    .option('--json', 'print one JSON line {"ports": {...}, "sim_link": ...} when ready')
    .addHelpText(
      'after',
      `
Examples:
  vla-sim dynamixel --robot aloha --json &          prints {"ports":{"left":...,"right":...},"sim_link":...}
  vla-sim dynamixel --robot aloha --leaders --json &   with the leader arms too (leader_ports), for takeovers
  vla-sim dynamixel --robot aloha --drop-rate 0.01 --crc-error-rate 0.01 --dir /tmp/aloha   a flaky bus

The emulator runs until interrupted (Ctrl-C). Then, for example:
  vla-calibrate --robot aloha --ports left=/dev/pts/N,right=/dev/pts/M --yes --out cal/`,
    )
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const robot = robotArg(o.robot as string | undefined);
      if (robot !== 'aloha')
        throw new UsageError(`the Dynamixel emulator emulates ALOHA only (valid: aloha), got '${robot}'`);
      const wakeCap = cpuWakeLatencyArg(o.cpuWakeLatencyUs as string);
      const emu = await DynamixelEmulator.start({
        task: taskArg(robot, o.task as string | undefined),
        seed: intArg('--seed', o.seed as string, 0),
        physics_hz: physicsHzArg(o.physicsHz as string),
        faults: {
          crc_error_rate: numArg('--crc-error-rate', o.crcErrorRate as string, 0, 1),
          drop_rate: numArg('--drop-rate', o.dropRate as string, 0, 1),
          reply_delay_ms: numArg('--reply-delay-ms', o.replyDelayMs as string, 0, 1000),
        },
        sim_link: o.simLink !== false,
        sim_link_port: intArg('--sim-link-port', o.simLinkPort as string, 0, 65535),
        dir: o.dir as string | undefined,
        leaders: o.leaders === true,
      });
      const log = createLogger({ name: 'vla-sim dynamixel' });
      const ready = {
        ports: emu.ports,
        sim_link: emu.sim_link ?? null,
        ...(emu.leader_ports ? { leader_ports: emu.leader_ports } : {}),
      };
      if (o.json) process.stdout.write(`${JSON.stringify(ready)}\n`);
      else {
        process.stdout.write(
          `ALOHA follower arms on ${ready.ports.left} (left) and ${ready.ports.right} (right), 1 Mbps, IDs 1-9\n`,
        );
        if (emu.leader_ports)
          process.stdout.write(
            `ALOHA leader arms on ${emu.leader_ports.left} (left) and ${emu.leader_ports.right} (right)\n`,
          );
        if (emu.sim_link) process.stdout.write(`sim link: ${emu.sim_link}\n`);
        process.stdout.write('Ctrl-C to stop\n');
      }
      const wake = wakeCap === null ? undefined : holdCpuWakeLatency(wakeCap);
      if (wake?.why_not)
        log.warn(`CPU wake-up latency not capped (${wake.why_not}): replies may go out late on an idle machine`);
      log.info(
        { ...ready, pty: emu.pty_via, faults: emu.faults, cpu_wake_latency_us: wake?.held_us ?? null },
        'emulator ready',
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      log.info({ counters: emu.counters(), slipped_ticks: emu.slipped_ticks }, 'emulator stopping');
      await emu.stop();
      wake?.release();
    });
}
