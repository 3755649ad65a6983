import { describe, expect, it } from 'vitest';
import { checkProjectName, normalizeProjectName, parseDistFilename } from '../../../src/ecosystems/pypi/names.js';
import { negotiateIndexFormat } from '../../../src/ecosystems/pypi/negotiate.js';

describe('PyPI names', () => {
  it('normalises per PEP 503', () => {
    expect(normalizeProjectName('Friendly-Bard')).toBe('friendly-bard');
    expect(normalizeProjectName('FRIENDLY_BARD')).toBe('friendly-bard');
    expect(normalizeProjectName('friendly.bard')).toBe('friendly-bard');
    expect(normalizeProjectName('FrIeNdLy-._.-bArD')).toBe('friendly-bard');
  });

  it('validates names per PEP 508', () => {
    expect(checkProjectName('scikit-learn')).toBeUndefined();
    expect(checkProjectName('-bad')).toMatch(/not a valid project name/);
    expect(checkProjectName('a/b')).toMatch(/not a valid project name/);
    expect(checkProjectName('')).toMatch(/required/);
  });

  it('parses wheel and sdist file names and refuses unsafe ones', () => {
    expect(parseDistFilename('numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')).toEqual({
      kind: 'wheel',
      name: 'numpy',
      version: '1.26.4',
    });
    expect(parseDistFilename('demo_pkg-1.0-1-py3-none-any.whl')).toEqual({ kind: 'wheel', name: 'demo_pkg', version: '1.0' });
    expect(parseDistFilename('scikit-learn-1.4.0.tar.gz')).toEqual({ kind: 'sdist', name: 'scikit-learn', version: '1.4.0' });
    expect(parseDistFilename('../evil-1.0.tar.gz')).toBeUndefined();
    expect(parseDistFilename('evil-1.0.exe')).toBeUndefined();
    expect(parseDistFilename('a-b.whl')).toBeUndefined();
  });
});

describe('PEP 691 negotiation', () => {
  it('follows q-values and falls back to HTML for wildcards', () => {
    expect(
      negotiateIndexFormat('application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01', undefined)
        ?.format,
    ).toBe('json');
    expect(negotiateIndexFormat('text/html, application/vnd.pypi.simple.v1+json;q=0.5', undefined)?.format).toBe('html');
    expect(negotiateIndexFormat(undefined, undefined)).toEqual({ format: 'html', contentType: 'text/html; charset=utf-8' });
    expect(negotiateIndexFormat('*/*', undefined)?.format).toBe('html');
    expect(negotiateIndexFormat('application/vnd.pypi.simple.v1+html', undefined)?.contentType).toBe('application/vnd.pypi.simple.v1+html');
    expect(negotiateIndexFormat('application/vnd.pypi.simple.latest+json', undefined)?.format).toBe('json');
    expect(negotiateIndexFormat('application/json', undefined)).toBeNull();
    expect(negotiateIndexFormat('text/html', 'application/vnd.pypi.simple.v1+json')?.format).toBe('json');
  });
});
