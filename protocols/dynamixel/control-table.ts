// X-series (XL430/XM430/XM540/XC430) control table: register addresses and sizes, model numbers, baud
// codes and the status error bits. Facts from the ROBOTIS e-manual (see shared/reference/dynamixel-aloha.md).

export interface Register {
  readonly name: string;
  readonly address: number;
  readonly size: 1 | 2 | 4;
  /** EEPROM registers can only be written while torque is off (and survive a reboot). */
  readonly eeprom: boolean;
  /** Reads only (writes are refused with an access error). */
  readonly read_only: boolean;
  /** Two's complement (a 4-byte register always reads signed; this matters for the 2-byte ones). */
  readonly signed: boolean;
}

function reg(name: string, address: number, size: 1 | 2 | 4, read_only = false, signed = false): Register {
  return { name, address, size, eeprom: address < 64, read_only, signed };
}
const RO = true;
const SIGNED = true;

export const REG = {
  model_number: reg('Model_Number', 0, 2, RO),
  model_information: reg('Model_Information', 2, 4, RO),
  firmware_version: reg('Firmware_Version', 6, 1, RO),
  id: reg('ID', 7, 1),
  baud_rate: reg('Baud_Rate', 8, 1),
  return_delay_time: reg('Return_Delay_Time', 9, 1),
  drive_mode: reg('Drive_Mode', 10, 1),
  operating_mode: reg('Operating_Mode', 11, 1),
  secondary_id: reg('Secondary_ID', 12, 1),
  protocol_type: reg('Protocol_Type', 13, 1),
  homing_offset: reg('Homing_Offset', 20, 4, false, SIGNED),
  moving_threshold: reg('Moving_Threshold', 24, 4),
  temperature_limit: reg('Temperature_Limit', 31, 1),
  max_voltage_limit: reg('Max_Voltage_Limit', 32, 2),
  min_voltage_limit: reg('Min_Voltage_Limit', 34, 2),
  pwm_limit: reg('PWM_Limit', 36, 2),
  current_limit: reg('Current_Limit', 38, 2),
  velocity_limit: reg('Velocity_Limit', 44, 4),
  max_position_limit: reg('Max_Position_Limit', 48, 4),
  min_position_limit: reg('Min_Position_Limit', 52, 4),
  startup_configuration: reg('Startup_Configuration', 60, 1),
  shutdown: reg('Shutdown', 63, 1),
  torque_enable: reg('Torque_Enable', 64, 1),
  led: reg('LED', 65, 1),
  status_return_level: reg('Status_Return_Level', 68, 1),
  registered_instruction: reg('Registered_Instruction', 69, 1, RO),
  hardware_error_status: reg('Hardware_Error_Status', 70, 1, RO),
  velocity_i_gain: reg('Velocity_I_Gain', 76, 2),
  velocity_p_gain: reg('Velocity_P_Gain', 78, 2),
  position_d_gain: reg('Position_D_Gain', 80, 2),
  position_i_gain: reg('Position_I_Gain', 82, 2),
  position_p_gain: reg('Position_P_Gain', 84, 2),
  feedforward_2nd_gain: reg('Feedforward_2nd_Gain', 88, 2),
  feedforward_1st_gain: reg('Feedforward_1st_Gain', 90, 2),
  bus_watchdog: reg('Bus_Watchdog', 98, 1),
  goal_pwm: reg('Goal_PWM', 100, 2, false, SIGNED),
  goal_current: reg('Goal_Current', 102, 2, false, SIGNED),
  goal_velocity: reg('Goal_Velocity', 104, 4, false, SIGNED),
  profile_acceleration: reg('Profile_Acceleration', 108, 4),
  profile_velocity: reg('Profile_Velocity', 112, 4),
  goal_position: reg('Goal_Position', 116, 4, false, SIGNED),
  realtime_tick: reg('Realtime_Tick', 120, 2, RO),
  moving: reg('Moving', 122, 1, RO),
  moving_status: reg('Moving_Status', 123, 1, RO),
  present_pwm: reg('Present_PWM', 124, 2, RO, SIGNED),
  present_current: reg('Present_Current', 126, 2, RO, SIGNED),
  present_velocity: reg('Present_Velocity', 128, 4, RO, SIGNED),
  present_position: reg('Present_Position', 132, 4, RO, SIGNED),
  velocity_trajectory: reg('Velocity_Trajectory', 136, 4, RO, SIGNED),
  position_trajectory: reg('Position_Trajectory', 140, 4, RO, SIGNED),
  present_input_voltage: reg('Present_Input_Voltage', 144, 2, RO),
  present_temperature: reg('Present_Temperature', 146, 1, RO),
  backup_ready: reg('Backup_Ready', 147, 1, RO),
} as const satisfies Record<string, Register>;

/**
 * Indirect addressing: Indirect_Address n (2 bytes) names a control-table byte that Indirect_Data n (1 byte)
 * reads and writes. Block 1 (n = 1..28) and block 2 (n = 29..56) are on XM430, XM540 and XL430 alike (e-Manual).
 */
export const INDIRECT_BLOCKS = [
  { first: 1, count: 28, address_at: 168, data_at: 224 },
  { first: 29, count: 28, address_at: 578, data_at: 634 },
] as const;

export function indirectRegisters(blocks: number): Register[] {
  const out: Register[] = [];
  for (const b of INDIRECT_BLOCKS.slice(0, blocks)) {
    for (let i = 0; i < b.count; i++) {
      out.push(reg(`Indirect_Address_${b.first + i}`, b.address_at + 2 * i, 2));
      out.push(reg(`Indirect_Data_${b.first + i}`, b.data_at + i, 1));
    }
  }
  return out;
}

/**
 * Bytes from address 0 that every X-series model answers a read of (through Present_Temperature): how
 * far a driver may pad a read (reply tags) without leaving any model's table.
 */
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
