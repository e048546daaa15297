// X-series (XL430/XM430/XM540/XC430) control table: register addresses and sizes, model numbers, baud
// codes and the status error bits. Facts from the ROBOTIS e-manual (see shared/reference/dynamixel-aloha.md).

export interface Register {
  readonly name: string;
  readonly address: number;
  readonly size: 1 | 2 | 4;
  /** EEPROM registers can only be written while torque is off. */
  readonly eeprom: boolean;
  /** Reads only (writes are refused with an access error). */
  readonly read_only: boolean;
}

function reg(name: string, address: number, size: 1 | 2 | 4, read_only = false): Register {
  return { name, address, size, eeprom: address < 64, read_only };
}

export const REG = {
  model_number: reg('Model_Number', 0, 2, true),
  firmware_version: reg('Firmware_Version', 6, 1, true),
  id: reg('ID', 7, 1),
  baud_rate: reg('Baud_Rate', 8, 1),
  return_delay_time: reg('Return_Delay_Time', 9, 1),
  drive_mode: reg('Drive_Mode', 10, 1),
  operating_mode: reg('Operating_Mode', 11, 1),
  secondary_id: reg('Secondary_ID', 12, 1),
  homing_offset: reg('Homing_Offset', 20, 4),
  velocity_limit: reg('Velocity_Limit', 44, 4),
  max_position_limit: reg('Max_Position_Limit', 48, 4),
  min_position_limit: reg('Min_Position_Limit', 52, 4),
  torque_enable: reg('Torque_Enable', 64, 1),
  hardware_error_status: reg('Hardware_Error_Status', 70, 1, true),
  goal_current: reg('Goal_Current', 102, 2),
  profile_acceleration: reg('Profile_Acceleration', 108, 4),
  profile_velocity: reg('Profile_Velocity', 112, 4),
  goal_position: reg('Goal_Position', 116, 4),
  present_current: reg('Present_Current', 126, 2, true),
  present_velocity: reg('Present_Velocity', 128, 4, true),
  present_position: reg('Present_Position', 132, 4, true),
} as const satisfies Record<string, Register>;

/** Bytes of control table an emulated servo holds (the last register above ends at 136). */
export const CONTROL_TABLE_SIZE = 147;

export const MODEL_NUMBER = { 'XM430-W350': 1020, 'XL430-W250': 1060, 'XM540-W270': 1120 } as const;
export type ModelName = keyof typeof MODEL_NUMBER;

export const OPERATING_MODE = {
  current: 0,
  velocity: 1,
  position: 3,
  extended_position: 4,
  current_based_position: 5,
  pwm: 16,
} as const;

/** Drive_Mode bit 0: reverse the direction of rotation. */
export const DRIVE_MODE_REVERSE = 0x01;

export const TICKS_PER_REV = 4096;
export const CENTRE_TICKS = 2048;
/** Homing_Offset limits of the X series. */
export const HOMING_OFFSET_LIMIT = 1_044_479;

/** Status packet ERR byte. */
export const STATUS_ALERT_BIT = 0x80;
export const STATUS_ERROR = {
  result_fail: 1,
  instruction: 2,
  crc: 3,
  data_range: 4,
  data_length: 5,
  data_limit: 6,
  access: 7,
} as const;

const STATUS_ERROR_TEXT: Record<number, string> = {
  1: 'result fail',
  2: 'instruction error',
  3: 'CRC error',
  4: 'data range error',
  5: 'data length error',
  6: 'data limit error',
  7: 'access error',
};

/** Hardware_Error_Status bits. */
export const HARDWARE_ERROR_TEXT: Record<number, string> = {
  1: 'input voltage',
  4: 'overheating',
  8: 'motor encoder',
  16: 'electrical shock',
  32: 'overload',
};

export function describeStatusError(err: number): string {
  const parts: string[] = [];
  const code = err & 0x7f;
  if (code) parts.push(STATUS_ERROR_TEXT[code] ?? `error code ${code}`);
  if (err & STATUS_ALERT_BIT) parts.push('hardware alert');
  return parts.join(' + ') || 'no error';
}

export function describeHardwareError(bits: number): string {
  const parts = Object.entries(HARDWARE_ERROR_TEXT)
    .filter(([b]) => bits & Number(b))
    .map(([, t]) => t);
  return parts.join(', ') || `0x${bits.toString(16)}`;
}
