% Rows longer than a block of the row loops (1024 elements), so that the
% passes over a row (the zeroing or the seed, each term, each tap) run
% block by block: zero padding at both ends, dilated taps that reach across
% block boundaries, a channel sum, and a row that is not a multiple of the
% block.
input x_{c,i}, 0 \le c < 2, 0 \le i < 1100 + 150n
param w_{k,c,a}, 0 \le k < 2, 0 \le c < 2, 0 \le a < 5
param v_a, 0 \le a < 3
y_{k,i} = \sum_{c} \sum_{a} w_{k,c,a} x_{c,i+2a-4} + x_{k,i}, 0 \le k < 2, 0 \le i < 1100 + 150n
z_{k,i} = \sum_{a} v_a y_{k,i+a} + \tanh(y_{k,i})
output z
