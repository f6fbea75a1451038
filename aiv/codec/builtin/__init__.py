"""The built-in reference codecs, each one self-contained module honouring the codec contract.

`intra` codes every frame on its own (8x8 DCT, JPEG-like quantisation, lzma): the baseline.
`hybrid` is a motion-compensated block codec (quarter-pel motion, DCT residual, intra and skip
blocks, loop filter, a context-adaptive range coder by default): the seed the codec search starts from.
"""

BUILTIN_CODECS = ("intra", "hybrid")
