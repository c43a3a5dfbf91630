/** CRC32C as it travels and is stored (X-Crc32c, X-Backend-Crc32c, the raw body trailer): 8 lower-case hex digits. */
export function crcHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}
