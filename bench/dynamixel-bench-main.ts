// node dist/bench/dynamixel-bench-main.js: the Dynamixel benchmarks alone, one JSON object on stdout
// (progress on stderr).
//   VLA_BENCH_DXL_SOAK_S   seconds of the 50 Hz soak with 1% CRC errors (default 300, as issue 6 asks)
//   VLA_BENCH_DXL_CYCLES   back-to-back read+write cycles (default 2000)
import { dynamixelBench } from './dynamixel-bench.js';

const soak_s = Number(process.env.VLA_BENCH_DXL_SOAK_S ?? 300);
const cycles = Number(process.env.VLA_BENCH_DXL_CYCLES ?? 2000);
if (!(soak_s > 0) || !Number.isInteger(cycles) || cycles < 1) {
  process.stderr.write(
    `dynamixel bench: VLA_BENCH_DXL_SOAK_S must be > 0 and VLA_BENCH_DXL_CYCLES a positive integer (got ${soak_s}, ` +
      `${cycles})\n`,
  );
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const result = {
  node: process.version,
  date: new Date().toISOString(),
  dynamixel: await dynamixelBench({ soak_s, cycles, log }),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
