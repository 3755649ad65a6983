// Types for seek-bzip (pure-JS bzip2 decoder, no bundled types): only what Safelist calls.
declare module 'seek-bzip' {
  const Bunzip: { decode(input: Buffer | Uint8Array): Buffer };
  export default Bunzip;
}
