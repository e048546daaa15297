// What differs between the emulated X-series models: where the control table ends, which registers exist,
// their factory defaults and the value ranges a write is checked against. Numbers checked against the
// control tables (Initial Value and Range columns) of the ROBOTIS e-Manual pages
//   https://emanual.robotis.com/docs/en/dxl/x/xm430-w350/
//   https://emanual.robotis.com/docs/en/dxl/x/xm540-w270/
//   https://emanual.robotis.com/docs/en/dxl/x/xl430-w250/
// (read from the page sources in github.com/ROBOTIS-GIT/emanual, docs/en/dxl/x/*.md). The ALOHA follower
// uses the first two, its leader the XL430. Unit notes: voltages 0.1 V, temperatures 1 °C, currents
// 2.69 mA, PWM 0.113 %, velocities 0.229 rev/min.
// Not in the e-Manual (its Initial Value is "-"), so the emulator's own choice: Firmware_Version (48),
// Goal_PWM and Goal_Current at power-on (their limit registers), Present_Input_Voltage and
// Present_Temperature. Not emulated: the XM540's External Port registers (56-58, 152-157) read 0.
import { type ModelName, OPERATING_MODE, REG, type Register } from '../../protocols/dynamixel/control-table.js';

export interface ModelSpec {
  /** One past the last control-table address. */
  table_end: number;
  /** Indirect address/data blocks the model has (control-table.ts INDIRECT_BLOCKS). */
  indirect_blocks: 1 | 2;
  /** Registers the model does not have (their bytes read 0 and ignore writes). */
  absent: readonly Register[];
  operating_modes: readonly number[];
  /** Factory values; every register not listed is 0 (the indirect addresses are set apart). */
  defaults: ReadonlyMap<Register, number>;
  /** Values a write may put in a register (outside: data range error). */
  ranges: ReadonlyMap<Register, readonly [number, number]>;
}

/** The supply of an ALOHA rig (12 V) and a servo at rest in a room: what the sensing registers read. */
export const PRESENT_INPUT_VOLTAGE = 120;
export const PRESENT_TEMPERATURE_C = 32;

const GAIN_RANGE = [0, 16_383] as const;

/** Defaults and ranges every X-series model shares. */
function common(): { defaults: Map<Register, number>; ranges: Map<Register, readonly [number, number]> } {
  const defaults = new Map<Register, number>([
    [REG.firmware_version, 48],
    [REG.id, 1],
    [REG.baud_rate, 1],
    [REG.return_delay_time, 250],
    [REG.operating_mode, OPERATING_MODE.position],
    [REG.secondary_id, 255],
    [REG.protocol_type, 2],
    [REG.moving_threshold, 10],
    [REG.pwm_limit, 885],
    [REG.max_position_limit, 4095],
    [REG.shutdown, 52],
    [REG.status_return_level, 2],
    [REG.velocity_p_gain, 100],
    [REG.goal_pwm, 885],
    [REG.present_input_voltage, PRESENT_INPUT_VOLTAGE],
    [REG.present_temperature, PRESENT_TEMPERATURE_C],
  ]);
  const ranges = new Map<Register, readonly [number, number]>([
    [REG.id, [0, 252]],
    [REG.baud_rate, [0, 7]],
    [REG.return_delay_time, [0, 254]],
    // Drive_Mode bits on the 430s: 0 reverse, 2 time-based profile, 3 torque on by goal update (fw 45+):
    // up to 13. The XL430 table says 0 ~ 13; the XM430 tables lag (0 ~ 1 on the XM430-W350 page, 0 ~ 5 on
    // its XM430-W210 sibling) behind the bit list of the same pages. The XM540 adds bit 1 (see xm()).
    [REG.drive_mode, [0, 13]],
    [REG.protocol_type, [1, 2]],
    [REG.homing_offset, [-1_044_479, 1_044_479]],
    [REG.moving_threshold, [0, 1023]],
    [REG.temperature_limit, [0, 100]],
    [REG.pwm_limit, [0, 885]],
    [REG.velocity_limit, [0, 1023]],
    [REG.max_position_limit, [0, 4095]],
    [REG.min_position_limit, [0, 4095]],
    [REG.startup_configuration, [0, 3]],
    [REG.torque_enable, [0, 1]],
    [REG.led, [0, 1]],
    [REG.status_return_level, [0, 2]],
    [REG.velocity_i_gain, GAIN_RANGE],
    [REG.velocity_p_gain, GAIN_RANGE],
    [REG.position_d_gain, GAIN_RANGE],
    [REG.position_i_gain, GAIN_RANGE],
    [REG.position_p_gain, GAIN_RANGE],
    [REG.feedforward_2nd_gain, GAIN_RANGE],
    [REG.feedforward_1st_gain, GAIN_RANGE],
    // 0 switches it off, 1 ~ 127 in 20 ms steps (the servo itself sets -1 on a watchdog error)
    [REG.bus_watchdog, [0, 127]],
    [REG.profile_acceleration, [0, 32_767]],
    [REG.profile_velocity, [0, 32_767]],
    // the extended modes' range; in position mode the position limits bound it (a data limit error)
    [REG.goal_position, [-1_048_575, 1_048_575]],
  ]);
  return { defaults, ranges };
}

function xm(current_limit: number, velocity_limit: number, dual_joint: boolean): ModelSpec {
  const { defaults, ranges } = common();
  for (const [r, v] of [
    [REG.temperature_limit, 80],
    [REG.max_voltage_limit, 160],
    [REG.min_voltage_limit, 95],
    [REG.current_limit, current_limit],
    [REG.velocity_limit, velocity_limit],
    [REG.velocity_i_gain, 1920],
    [REG.position_p_gain, 800],
    // after power-on the goal current is the limit (no extra limit until one is written)
    [REG.goal_current, current_limit],
  ] as const)
    defaults.set(r, v);
  ranges.set(REG.max_voltage_limit, [95, 160]);
  ranges.set(REG.min_voltage_limit, [95, 160]);
  ranges.set(REG.current_limit, [0, current_limit]);
  // the X540s' Drive_Mode also has bit 1 (leader/follower dual joint): bits 0-3, up to 15 (the XM540-W270
  // table's Range still says 0 ~ 5, behind the page's own bit list)
  if (dual_joint) ranges.set(REG.drive_mode, [0, 15]);
  const m = OPERATING_MODE;
  return {
    table_end: 662,
    indirect_blocks: 2,
    absent: [],
    operating_modes: [m.current, m.velocity, m.position, m.extended_position, m.current_based_position, m.pwm],
    defaults,
    ranges,
  };
}

function xl430(): ModelSpec {
  const { defaults, ranges } = common();
  for (const [r, v] of [
    [REG.temperature_limit, 72],
    [REG.max_voltage_limit, 140],
    [REG.min_voltage_limit, 60],
    [REG.velocity_limit, 265],
    [REG.velocity_i_gain, 1000],
    [REG.position_d_gain, 4000],
    [REG.position_p_gain, 640],
  ] as const)
    defaults.set(r, v);
  ranges.set(REG.max_voltage_limit, [60, 140]);
  ranges.set(REG.min_voltage_limit, [60, 140]);
  const m = OPERATING_MODE;
  return {
    // the e-Manual's XL430-W250 table has the second indirect block too (Indirect Address 29-56 at
    // 578-632, Indirect Data 29-56 at 634-661), like the XM
    table_end: 662,
    indirect_blocks: 2,
    // no current sensing: no current limit or goal (address 126 is Present_Load there)
    absent: [REG.current_limit, REG.goal_current],
    operating_modes: [m.velocity, m.position, m.extended_position, m.pwm],
    defaults,
    ranges,
  };
}

export const MODEL_SPECS: Record<ModelName, ModelSpec> = {
  'XM430-W350': xm(1193, 200, false),
  'XM540-W270': xm(2047, 128, true),
  'XL430-W250': xl430(),
};
