"""The built-in reference codecs, each one self-contained module honouring the codec contract.

`intra` codes every frame on its own (8x8 DCT, JPEG-like quantisation, lzma): the baseline.
`hybrid` is a motion-compensated block codec (hierarchical B frames, several references, scene
cuts, quarter-pel motion, spatial intra prediction, DCT residual with RDOQ, skip/direct blocks,
loop filter, context-adaptive range coder): the seed the codec search starts from.
"""

BUILTIN_CODECS = ("intra", "hybrid")
