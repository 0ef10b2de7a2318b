% Channels before the batch in every tensor, taps from -1 to 1 (read at
% a + 1 in the weights): the Winograd path's views with the image stride
% after the channel stride, and a weight gradient split over threads by
% its input channel (the target's first index).
input y_{c,n,p,q}, 0 \le c < C, 0 \le n < N, 0 \le p < H, 0 \le q < W
param w_{c,k,a,b}, 0 \le c < C, 0 \le k < K, 0 \le a < 3, 0 \le b < 3
x_{k,n,i,j} = \sum_{c} \sum_{a=-1}^{1} \sum_{b=-1}^{1} w_{c,k,a+1,b+1} y_{c,n,i+a,j+b}, 0 \le k < K, 0 \le n < N, 0 \le i < H, 0 \le j < W
output x
