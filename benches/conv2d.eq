% conv2d benchmark: NCHW, 3x3 kernel, zero padding 1, stride 1, no bias.
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{n,k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{n,c,i+a-1,j+b-1}, 0 \le n < N, 0 \le k < K, 0 \le i < H, 0 \le j < W
