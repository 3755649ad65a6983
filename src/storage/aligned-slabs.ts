// Page-aligned buffers for direct I/O. O_DIRECT takes a write only when its memory address, file
// offset and length are multiples of the device's logical block size (ALIGN, 4096, covers every
// device), and Node offers no way to ask a Buffer for an alignment. A WebAssembly.Memory is a
// mapping of its own, so its buffer starts on a page boundary, and slabs cut from it at SLAB
// steps are aligned too. The memory is reserved once and never grows (grow() would detach
// every slab in use) nor shrinks; pages are resident only once touched, and freed slabs are
// reused first, so what stays resident is the most slabs ever in use at once.
export const ALIGN = 4096;
export const SLAB = 1024 * 1024;
/** Slabs in the pool: sync concurrency × (writes in flight + 1), with room for the server's own. */
const SLABS = 64;
const WASM_PAGE = 64 * 1024;

class SlabPool {
  private memory: WebAssembly.Memory | undefined;
  private free: number[] = [];
  private unavailable = typeof WebAssembly === 'undefined';

  /** A free slab (SLAB bytes, aligned), or undefined when every one is in use or the runtime has no WebAssembly (--jitless). */
  take(): Buffer | undefined {
    if (!this.memory && !this.unavailable) {
      try {
        this.memory = new WebAssembly.Memory({ initial: (SLABS * SLAB) / WASM_PAGE, maximum: (SLABS * SLAB) / WASM_PAGE });
        // Highest first, so pop() hands out the lowest slabs and the same few stay resident.
        for (let i = SLABS - 1; i >= 0; i--) this.free.push(i);
      } catch {
        // No address space for it (a ulimit -v): buffers come from the heap, written through the page cache.
        this.unavailable = true;
      }
    }
    const i = this.free.pop();
    return i === undefined ? undefined : Buffer.from(this.memory!.buffer, i * SLAB, SLAB);
  }

  /** Returns a slab take() gave (any view of it); anything else is ignored. */
  give(buf: Buffer): void {
    const i = this.slabOf(buf);
    if (i !== undefined && !this.free.includes(i)) this.free.push(i);
  }

  /** The slab a view lies in, when it is one of this pool's. */
  slabOf(buf: Buffer): number | undefined {
    if (!this.memory || buf.buffer !== this.memory.buffer) return undefined;
    return Math.floor(buf.byteOffset / SLAB);
  }

  /**
   * The view to write with O_DIRECT at a file offset: buf itself when aligned, or buf followed
   * by zeros up to the next ALIGN multiple when it ends inside its slab (the file is truncated
   * back afterwards); undefined when buf is not from the pool or not aligned where it starts.
   */
  directView(buf: Buffer, position: number): Buffer | undefined {
    const slab = this.slabOf(buf);
    if (slab === undefined || buf.byteOffset % ALIGN !== 0 || position % ALIGN !== 0) return undefined;
    const padded = Math.ceil(buf.length / ALIGN) * ALIGN;
    if (padded === buf.length) return buf;
    if (buf.byteOffset + padded > (slab + 1) * SLAB) return undefined;
    const view = Buffer.from(buf.buffer, buf.byteOffset, padded);
    view.fill(0, buf.length);
    return view;
  }

  /** Slabs free now (for tests). */
  get available(): number {
    return this.memory ? this.free.length : SLABS;
  }
}

export const slabs = new SlabPool();
