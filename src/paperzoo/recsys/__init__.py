"""PCRec: contrastive GNN pre-training on a source graph, MF-BPR fine-tuning on a target graph.

graph (CSR bipartite graph) -> sampler (r-ego subgraphs by random walk with restart) -> features
(GCC structural features) -> gin (encoder) -> contrastive (MoCo / in-batch InfoNCE); mf (BPR-MF,
LightGCN, initial values from the encoder) and ``paperzoo.metrics.ranking`` (full ranking).
"""
