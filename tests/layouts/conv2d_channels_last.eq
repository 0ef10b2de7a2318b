% Channels last (NHWC): the merged column index is not the last dimension,
% and rows of width W hold C or K values per column.
input y_{n,p,q,c}, 0 \le n < N, 0 \le p < H, 0 \le q < W, 0 \le c < C
param w_{a,b,c,k}, 0 \le a < 3, 0 \le b < 3, 0 \le c < C, 0 \le k < K
x_{n,i,j,k} = \sum_{a,b,c} w_{a,b,c,k} y_{n,i+a-1,j+b-1,c}, 0 \le n < N, 0 \le i < H, 0 \le j < W, 0 \le k < K
output x
