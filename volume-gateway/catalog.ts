/**
 * Export catalogs for tests and development. Both serve FileVolumes; volumes made of objects (the
 * real catalog, backed by the cluster) are the next slice of issue 25.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileVolume } from './file-volume.js';
import type { ExportCatalog, NbdExport } from './volume.js';

/** A fixed set of exports; `defaultName` answers the empty export name. */
export class StaticCatalog implements ExportCatalog {
  private readonly byName = new Map<string, NbdExport>();
  constructor(
    exports: NbdExport[],
    private readonly defaultName?: string,
  ) {
    for (const e of exports) this.byName.set(e.name, e);
  }
  async list(): Promise<Array<{ name: string; description?: string }>> {
    return [...this.byName.values()].map((e) => ({ name: e.name, description: e.description }));
  }
  async open(name: string): Promise<NbdExport | undefined> {
    return this.byName.get(name === '' && this.defaultName !== undefined ? this.defaultName : name);
  }
}

/**
 * DEV ONLY: every regular file in a directory is an export of that name (`swiftlet volume-gateway`).
 * Files are opened on first use and stay open until close(). Names with a slash or a leading dot
 * are never looked up, so a client cannot reach outside the directory.
 */
export class DirectoryCatalog implements ExportCatalog {
  private readonly open_ = new Map<string, Promise<NbdExport | undefined>>();
  constructor(
    private readonly dir: string,
    private readonly opts: { defaultName?: string; readOnly?: boolean } = {},
  ) {}

  async list(): Promise<Array<{ name: string; description?: string }>> {
    const out: Array<{ name: string; description: string }> = [];
    for (const name of (await readdir(this.dir)).sort()) {
      if (DirectoryCatalog.safe(name) && (await stat(join(this.dir, name)).catch(() => undefined))?.isFile()) out.push({ name, description: describe(name) });
    }
    return out;
  }

  open(requested: string): Promise<NbdExport | undefined> {
    const name = requested === '' && this.opts.defaultName !== undefined ? this.opts.defaultName : requested;
    if (!DirectoryCatalog.safe(name)) return Promise.resolve(undefined);
    let p = this.open_.get(name);
    if (p === undefined) {
      const path = join(this.dir, name);
      p = stat(path).then(
        async (st) => (st.isFile() ? { name, description: describe(name), volume: await FileVolume.open(path, { readOnly: this.opts.readOnly }) } : undefined),
        () => undefined,
      );
      this.open_.set(name, p);
      // A name that is not there now may be created later.
      void p.then((e) => {
        if (e === undefined) this.open_.delete(name);
      });
    }
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.open_.values()) {
      const e = await p;
      if (e?.volume instanceof FileVolume) await e.volume.close();
    }
    this.open_.clear();
  }

  private static safe(name: string): boolean {
    return name.length > 0 && name.length <= 255 && !name.includes('/') && !name.includes('\0') && !name.startsWith('.');
  }
}

function describe(name: string): string {
  return `file-backed dev volume ${name}`;
}
