% A valid 3 x 3 convolution with the taps flipped (a true convolution,
% y[i - a + 2]) and a constant factor: the Winograd path's flipped filter
% view, negative padding (none) and a scale.
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{n,k,i,j} = \frac{1}{2} \sum_{c,a,b} w_{k,c,a,b} y_{n,c,i-a+2,j-b+2}, 0 \le n < N, 0 \le k < K, 0 \le i < H - 2, 0 \le j < W - 2
output x
