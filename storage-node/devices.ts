import { statSync } from 'node:fs';

/** A device name as it may appear in a backend path: one path segment, not `.` or `..`. */
export function validDeviceName(name: string): boolean {
  return name !== '' && !name.includes('/') && name !== '.' && name !== '..';
}

/** The device's folder is there (a device that is missing or unmounted answers 507). */
export function isDeviceDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
