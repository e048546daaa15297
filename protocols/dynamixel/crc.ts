// CRC-16 of Dynamixel Protocol 2.0 (CRC-16/BUYPASS: polynomial 0x8005, initial 0, not reflected, no final
// XOR), table-driven because it runs over every byte that crosses the bus.

const TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x8005) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
}

/** CRC over bytes[start, end); pass a previous result as `crc` to continue a running CRC. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  for (let k = start; k < end; k++) {
    crc = ((crc << 8) ^ TABLE[((crc >> 8) ^ bytes[k]) & 0xff]) & 0xffff;
  }
  return crc;
}
