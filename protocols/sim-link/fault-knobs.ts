// Faults the emulator can inject, to rehearse a bad cable or a sick servo without hardware.
import { z } from 'zod';

export const FaultKnobsSchema = z
  .object({
    /** Probability that a status packet goes out with a corrupted CRC. */
    crc_error_rate: z.number().min(0).max(1).default(0),
    /** Probability that a status packet is not sent at all. */
    drop_rate: z.number().min(0).max(1).default(0),
    /** Delay before a reply (ms), on top of the operating system's. */
    reply_delay_ms: z.number().min(0).max(1000).default(0),
    /** Per arm, IDs that never answer (a dead servo or an unplugged cable segment). */
    silent_ids: z.record(z.string(), z.array(z.number().int().min(0).max(252))).default({}),
    /** Every 'frame' request is refused: the rig's cameras stopped delivering (the motors go on). */
    cameras_paused: z.boolean().default(false),
  })
  .strict();

export type FaultKnobs = z.infer<typeof FaultKnobsSchema>;
