% Benchmark workload (issue 5): depthwise conv2d, NCHW, one 3x3 kernel per
% channel, stride 1, zero padding 1 (written output range H x W), no bias.
% Bench shape: N=8, C=64, H=W=56.
% test-sizes: N=2, C=3, H=5, W=4
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{c,a,b}, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{n,c,i,j} = \sum_{a,b} w_{c,a,b} y_{n,c,i+a-1,j+b-1}, 0 \le n < N, 0 \le c < C, 0 \le i < H, 0 \le j < W
output x
