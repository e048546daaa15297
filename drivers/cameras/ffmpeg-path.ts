// Which ffmpeg reads local cameras: $FFMPEG_PATH, else the system's (a V4L2 set-up has it, built for its
// devices), else the static build shipped in the optional npm package @ffmpeg-installer/ffmpeg, so a
// machine with only Node can run the camera path (its lavfi test source stands in for a device).
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export interface FfmpegLocation {
  path: string;
  from: 'FFMPEG_PATH' | 'system' | '@ffmpeg-installer/ffmpeg';
}

export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): FfmpegLocation | undefined {
  if (env.FFMPEG_PATH) return { path: env.FFMPEG_PATH, from: 'FFMPEG_PATH' };
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg');
    if (isExecutable(candidate)) return { path: candidate, from: 'system' };
  }
  try {
    const shipped = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    if (isExecutable(shipped)) return { path: shipped, from: '@ffmpeg-installer/ffmpeg' };
  } catch {
    // the optional package is not installed (npm install --omit=optional) or has no build for this platform
  }
  return undefined;
}

export const NO_FFMPEG_HELP =
  "no ffmpeg found: install the system's (Debian: apt-get install ffmpeg), set FFMPEG_PATH, or " +
  'run npm install without --omit=optional (it ships @ffmpeg-installer/ffmpeg)';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
