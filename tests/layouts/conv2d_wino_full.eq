% A full 3 x 3 correlation (padding 2: the output is larger than the
% input) followed by a second, same-padded one: Winograd calls whose
% padding is not 1 and whose image is an intermediate value.
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
param v_{m,k,a,b}, 0 \le m < M, 0 \le k < K, 0 \le a < 3, 0 \le b < 3
x_{n,k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{n,c,i+a-2,j+b-2}, 0 \le n < N, 0 \le k < K, 0 \le i < H + 2, 0 \le j < W + 2
u_{n,m,i,j} = \sum_{k,a,b} v_{m,k,a,b} \tanh(x_{n,k,i+a-1,j+b-1}), 0 \le n < N, 0 \le m < M, 0 \le i < H + 2, 0 \le j < W + 2
output u
