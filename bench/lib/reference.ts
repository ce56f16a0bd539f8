/**
 * Reference figures that this run does not measure, quoted from
 * ../shared/DESIGN.md ("Facts about this platform"): PyTorch (Debian
 * python3-torch + OpenBLAS) training the MLP 784-800-800-10 at batch 128 on
 * the same 2 cores. Always labelled "not measured in this run" in the table.
 */
export const PYTORCH_BAR_SAMPLES_PER_S = 6000;
