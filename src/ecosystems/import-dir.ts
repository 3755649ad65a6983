// The folder parameter every import job takes: an absolute path, read by the process running the
// job (with a server holding the embedded database, the server, on the same machine). It must
// never accept a relative path, which would be resolved against whichever process runs it.
import { isAbsolute } from 'node:path';
import { z } from 'zod';

export const importDir = z.string().min(1).max(4096).refine(isAbsolute, "an absolute path to a folder on the server's machine");
