% Multi-channel "valid" convolution with a symbolic kernel: no reads out of
% range; with --gemm each image and tap is one call over the whole plane.
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < R, 0 \le b < S
x_{n,k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{n,c,i+a,j+b}
output x
