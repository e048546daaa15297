// Both arms' calibration files (the followers', or the leaders'), validated before anything is commanded: a
// malformed file is a DriverSetupError naming the file and each bad motor.

import { type ArmCalibration, CalibrationError, loadArmCalibration } from '../../calibration/motor-calibration.js';
import { type AlohaRole, type AlohaSide, alohaMotors } from '../../protocols/aloha/motor-map.js';
import { DriverSetupError } from '../driver.js';

export async function loadAlohaCalibration(
  paths: Record<AlohaSide, string>,
  role: AlohaRole = 'follower',
): Promise<Record<AlohaSide, ArmCalibration>> {
  const out = {} as Record<AlohaSide, ArmCalibration>;
  for (const side of ['left', 'right'] as const) {
    try {
      out[side] = await loadArmCalibration(paths[side], alohaMotors(role));
    } catch (err) {
      if (err instanceof CalibrationError) throw new DriverSetupError(err.message);
      throw err;
    }
  }
  return out;
}
