% A stride of 2 down the rows and 1 along them, with a valid column
% range: the row index cannot merge (coefficient 2); the calls stay per row.
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{n,k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{n,c,2i+a-1,j+b}, 0 \le n < N, 0 \le k < K, 0 \le i < P, 0 \le j < W - 2
output x
